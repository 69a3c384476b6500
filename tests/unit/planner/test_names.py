import pytest

from sandbox.planner.names import file_names, names_a_file


@pytest.mark.parametrize(("text", "names"), [
    ("what is the average age in people.csv", ["people.csv"]),
    ("rename src/app.py to src/main.py", ["src/app.py", "src/main.py"]),
    ("unpack backup.7z here", ["backup.7z"]),
    ("copy notes.txt. Then notes.txt again", ["notes.txt"]),
    ("use python 3.5 or version 2.0", []),
    ("list the files in downloads", []),
])
def test_file_names_as_a_request_says_them(text: str, names: list[str]) -> None:
    assert file_names(text) == names


def test_a_web_address_is_not_a_file() -> None:
    assert not names_a_file("download the page from example.com")
    assert names_a_file("download the page into page.html")
