"""Worked examples for the planner: everyday shell requests about the files of the current folder.

Each entry pairs a person's request, phrased the way people actually ask (imperatives, questions, casual
wording, concrete file names), with the one POSIX ``sh`` command line a careful expert would run for it in
the sandbox's Debian 12 tool image (dash, coreutils, findutils, grep, sed, gawk, tar, gzip/bzip2/xz/zstd,
unzip, git, jq, bc, python3; no zip, curl, rename or tree, so zip files go through ``python3 -m zipfile``).
The entries were written by hand from everyday shell practice, grouped by kind, and every one was verified
for real: a throwaway folder with realistic files was built for it, the command was run there through
``sbx exec`` in the real container, and its output and the resulting files were checked against what the
request asks (questions print the answer and change nothing; edits are made in place, never by redirecting
a file into itself). The planner shows the entries nearest a request to the model as examples.
"""

from __future__ import annotations

# (request, command): a person's request about the files of the current folder, and the one
# shell command line that does it.
CHEATSHEET: tuple[tuple[str, str], ...] = (
    # Finding files
    ("find the shell scripts changed in the last 3 days", "find . -name '*.sh' -mtime -3"),
    ("list all the .log files in this folder and its subfolders", "find . -type f -name '*.log'"),
    ("find files bigger than 10 MB", "find . -type f -size +10M"),
    ("find all empty files", "find . -type f -empty"),
    ("are there any empty folders here?", "find . -type d -empty"),
    ("where is config.json?", "find . -name config.json"),
    ("find files with 'report' in the name, upper or lower case", "find . -iname '*report*'"),
    ("find all python files but skip the venv folder", "find . -path ./venv -prune -o -name '*.py' -print"),
    ("which files haven't been touched in over a month?", "find . -type f -mtime +30"),
    ("show the 5 biggest files under this folder", "find . -type f -exec du -h {} + | sort -rh | head -n 5"),
    ("what's the most recently modified file in this folder?", "ls -t | head -n 1"),
    ("find files modified today", 'find . -type f -newermt "$(date +%F)"'),
    # Listing files
    ("list files sorted by size, biggest first", "ls -lS"),
    ("show the newest files first", "ls -lt"),
    ("show everything here including hidden files", "ls -la"),
    ("list the files with human-readable sizes", "ls -lh"),
    ("show all the files and folders under src as a tree", "find src | sort"),
    # Counting files and lines
    ("how many files are in this folder?", "find . -maxdepth 1 -type f | wc -l"),
    ("count all the files in this folder and its subfolders", "find . -type f | wc -l"),
    (
        "how many files of each extension are there?",
        "find . -type f -name '*.*' | sed 's/.*\\.//' | sort | uniq -c | sort -rn",
    ),
    ("how many lines are in app.log?", "wc -l < app.log"),
    ("word count of essay.txt", "wc -w < essay.txt"),
    ("count the lines of code in all the python files", "find . -name '*.py' -exec cat {} + | wc -l"),
    # Disk usage and sizes
    ("how big is this folder?", "du -sh ."),
    ("how much space does each subfolder take?", "du -sh */"),
    ("what's taking up the most space here?", "du -sh * | sort -rh | head -n 10"),
    ("what's the size of data.csv in bytes?", "stat -c %s data.csv"),
    ("how much free disk space is there?", "df -h ."),
    # Creating files and folders
    ("create folders src, tests and docs", "mkdir src tests docs"),
    ("make a nested folder a/b/c", "mkdir -p a/b/c"),
    ("create an empty file called notes.txt", "touch notes.txt"),
    ("create todo.txt containing the line 'buy milk'", "echo 'buy milk' > todo.txt"),
    ("add the line 'deploy done' to the end of log.txt", "echo 'deploy done' >> log.txt"),
    ("create a symlink called latest that points to build-42", "ln -s build-42 latest"),
    (
        "write a script hello.sh that prints hello, and make it executable",
        "printf '#!/bin/sh\\necho hello\\n' > hello.sh && chmod +x hello.sh",
    ),
    # Deleting files
    ("delete all .tmp files", "find . -type f -name '*.tmp' -delete"),
    ("remove the build folder", "rm -rf build"),
    ("delete all the empty directories", "find . -type d -empty -delete"),
    ("delete log files older than 7 days", "find . -type f -name '*.log' -mtime +7 -delete"),
    ("get rid of all the __pycache__ folders", "find . -type d -name __pycache__ -prune -exec rm -rf {} +"),
    ("empty the cache folder but keep the folder itself", "find cache -mindepth 1 -delete"),
    ("delete every file in this folder except the pdfs", "find . -maxdepth 1 -type f ! -name '*.pdf' -delete"),
    # Copying, moving and renaming
    ("copy report.pdf into the backup folder", "cp report.pdf backup/"),
    ("make a backup copy of config.json", "cp config.json config.json.bak"),
    ("copy the whole src folder to src_backup", "cp -r src src_backup"),
    ("rename draft.txt to final.txt", "mv draft.txt final.txt"),
    ("rename all the .txt files to .md", 'for f in *.txt; do mv -- "$f" "${f%.txt}.md"; done'),
    (
        "replace the spaces in file names with underscores",
        'for f in *\' \'*; do mv -- "$f" "$(echo "$f" | tr \' \' _)"; done',
    ),
    (
        "collect all the pdfs from the subfolders into a folder called all_pdfs",
        "mkdir -p all_pdfs && find . -name '*.pdf' -not -path './all_pdfs/*' -exec cp -t all_pdfs {} +",
    ),
    (
        "move the files older than 30 days into the archive folder",
        "mkdir -p archive && find . -maxdepth 1 -type f -mtime +30 -exec mv -t archive {} +",
    ),
    # Permissions
    ("make deploy.sh executable", "chmod +x deploy.sh"),
    ("make every shell script in all the subfolders executable", "find . -type f -name '*.sh' -exec chmod +x {} +"),
    ("make secrets.env readable and writable only by me", "chmod 600 secrets.env"),
    (
        "set all folders to 755 and all files to 644",
        "find . -type d -exec chmod 755 {} + && find . -type f -exec chmod 644 {} +",
    ),
    ("what are the permissions of run.sh in octal?", "stat -c %a run.sh"),
    # Archives and compression
    ("make a tar.gz of the project folder", "tar -czf project.tar.gz project"),
    ("extract backup.tar.gz", "tar -xzf backup.tar.gz"),
    ("what's inside archive.tar.gz?", "tar -tzf archive.tar.gz"),
    ("extract backup.tar.gz into a folder called restore", "mkdir -p restore && tar -xzf backup.tar.gz -C restore"),
    ("tar up src without the node_modules folder", "tar -czf src.tar.gz --exclude=node_modules src"),
    ("gzip app.log", "gzip app.log"),
    ("decompress data.csv.gz", "gunzip data.csv.gz"),
    ("unzip photos.zip", "unzip photos.zip"),
    ("what's in docs.zip?", "unzip -l docs.zip"),
    ("zip up the reports folder", "python3 -m zipfile -c reports.zip reports"),
    ("put all the pdf files into papers.zip", "python3 -m zipfile -c papers.zip *.pdf"),
    # Searching inside files
    ("search for TODO in all the python files", "grep -rn TODO --include='*.py' ."),
    ("which files mention 'password'?", "grep -rl password ."),
    ("find 'error' in app.log regardless of case", "grep -i error app.log"),
    ("how many lines in app.log contain ERROR?", "grep -c ERROR app.log"),
    ("show app.log without the DEBUG lines", "grep -v DEBUG app.log"),
    ("show each Exception in app.log with 3 lines of context", "grep -n -C 3 Exception app.log"),
    (
        "pull out all the email addresses in contacts.txt",
        "grep -Eo '[[:alnum:]._%+-]+@[[:alnum:].-]+\\.[[:alpha:]]+' contacts.txt",
    ),
    ("list the unique IP addresses in access.log", "grep -Eo '([0-9]{1,3}\\.){3}[0-9]{1,3}' access.log | sort -u"),
    ("grep for useState in the project but skip node_modules", "grep -rn useState --exclude-dir=node_modules ."),
    ("show the lines in app.log that have error or warning in them", "grep -Ei 'error|warning' app.log"),
    ("search all the app logs, including the gzipped ones, for ERROR", "zgrep -h ERROR app.log*"),
    # Editing text files in place
    ("replace foo with bar in config.txt", "sed -i 's/foo/bar/g' config.txt"),
    (
        "change localhost to db.internal in all the yaml files under config",
        "find config -name '*.yaml' -exec sed -i 's/localhost/db.internal/g' {} +",
    ),
    ("delete the blank lines from notes.txt", "sed -i '/^[[:space:]]*$/d' notes.txt"),
    ("strip trailing whitespace from main.py", "sed -i 's/[[:space:]]*$//' main.py"),
    ("delete the lines containing DEBUG from app.log", "sed -i '/DEBUG/d' app.log"),
    ("drop the header line of data.csv", "sed -i '1d' data.csv"),
    ("add the header name,age at the top of people.csv", "sed -i '1i name,age' people.csv"),
    ("convert script.sh from Windows line endings to Unix", "sed -i 's/\\r$//' script.sh"),
    ("change /usr/local to /opt everywhere in paths.txt", "sed -i 's|/usr/local|/opt|g' paths.txt"),
    ("sort names.txt in place", "sort -o names.txt names.txt"),
    (
        "remove duplicate lines from list.txt but keep the order",
        "awk '!seen[$0]++' list.txt > list.txt.tmp && mv list.txt.tmp list.txt",
    ),
    # Extracting and transforming text
    ("show the first 20 lines of data.csv", "head -n 20 data.csv"),
    ("show me the last 50 lines of app.log", "tail -n 50 app.log"),
    ("print lines 10 to 20 of book.txt", "sed -n '10,20p' book.txt"),
    ("sort words.txt alphabetically and drop the duplicates", "sort -u words.txt"),
    (
        "what are the 10 most common words in book.txt?",
        "tr -cs '[:alpha:]' '\\n' < book.txt | tr '[:upper:]' '[:lower:]' | sort | uniq -c | sort -rn | head -n 10",
    ),
    ("which lines appear more than once in emails.txt?", "sort emails.txt | uniq -d"),
    ("show list.txt in reverse order", "tac list.txt"),
    ("show nginx.conf without the comments and blank lines", "grep -Ev '^[[:space:]]*(#|$)' nginx.conf"),
    ("print the third column of the space-separated data.txt", "awk '{ print $3 }' data.txt"),
    ("split big.csv into files of 1000 lines each", "split -l 1000 big.csv part_"),
    # CSV and TSV data
    ("show the second column of data.csv", "cut -d, -f2 data.csv"),
    ("how many rows does data.csv have, not counting the header?", "tail -n +2 data.csv | wc -l"),
    (
        "sort sales.csv by amount (the 3rd column), keeping the header on top",
        "head -n 1 sales.csv && tail -n +2 sales.csv | sort -t, -k3,3n",
    ),
    ("what's the total of the amount column in sales.csv?", "awk -F, 'NR > 1 { s += $3 } END { print s }' sales.csv"),
    ("how many sales per region are in sales.csv?", "tail -n +2 sales.csv | cut -d, -f1 | sort | uniq -c | sort -rn"),
    ("show the orders in orders.csv whose status (4th column) is failed", "awk -F, '$4 == \"failed\"' orders.csv"),
    ("convert data.tsv to data.csv", "tr '\\t' ',' < data.tsv > data.csv"),
    (
        "merge jan.csv and feb.csv into all.csv with a single header",
        "head -n 1 jan.csv > all.csv && tail -n +2 -q jan.csv feb.csv >> all.csv",
    ),
    (
        "total amount per region in sales.csv",
        "awk -F, 'NR > 1 { s[$1] += $3 } END { for (k in s) print k, s[k] }' sales.csv",
    ),
    (
        "convert data.csv to JSON in data.json",
        'python3 -c \'import csv, json; json.dump(list(csv.DictReader(open("data.csv"))), '
        'open("data.json", "w"), indent=2)\'',
    ),
    # JSON data
    ("pretty-print config.json", "jq . config.json"),
    ("what's the version in package.json?", "jq -r .version package.json"),
    ("how many users are in users.json?", "jq length users.json"),
    ("list every user's email from users.json", "jq -r '.[].email' users.json"),
    ("show the users older than 30 in users.json", "jq '.[] | select(.age > 30)' users.json"),
    ("get the database host from config.json", "jq -r .database.host config.json"),
    (
        "set debug to true in config.json",
        "jq '.debug = true' config.json > config.json.tmp && mv config.json.tmp config.json",
    ),
    ("is config.json valid JSON?", "jq empty config.json && echo valid"),
    (
        "export the name and email of each user in users.json to users.csv",
        "jq -r '.[] | [.name, .email] | @csv' users.json > users.csv",
    ),
    ("how many click events are in events.jsonl?", "jq -s 'map(select(.type == \"click\")) | length' events.jsonl"),
    # Logs
    ("follow app.log as new lines are written", "tail -f app.log"),
    ("how many errors per hour are in app.log?", "grep ERROR app.log | cut -c1-13 | sort | uniq -c"),
    ("show today's errors from app.log", 'grep "^$(date +%F)" app.log | grep ERROR'),
    (
        "which 10 IP addresses make the most requests in access.log?",
        "awk '{ print $1 }' access.log | sort | uniq -c | sort -rn | head -n 10",
    ),
    ("count the HTTP status codes in access.log", "awk '{ print $9 }' access.log | sort | uniq -c | sort -rn"),
    ("show the 404 requests in access.log", "awk '$9 == 404' access.log"),
    ("empty app.log without deleting it", "truncate -s 0 app.log"),
    # Comparing files
    ("what's the difference between old.txt and new.txt?", "diff -u old.txt new.txt"),
    ("are a.bin and b.bin identical?", "cmp -s a.bin b.bin && echo same || echo different"),
    ("what's different between the folders v1 and v2?", "diff -rq v1 v2"),
    ("which lines of a.txt are not in b.txt?", "grep -Fxv -f b.txt a.txt"),
    ("save the changes from old.py to new.py as a patch", "diff -u old.py new.py > fix.patch"),
    ("apply fix.patch", "patch -p1 < fix.patch"),
    # Checksums
    ("what's the sha256 of ubuntu.iso?", "sha256sum ubuntu.iso"),
    ("check the files against SHA256SUMS", "sha256sum -c SHA256SUMS"),
    ("save the sha256 checksums of all the .tar.gz files to checksums.txt", "sha256sum *.tar.gz > checksums.txt"),
    ("are there duplicate files here?", "find . -type f -exec md5sum {} + | sort | uniq -w32 -D"),
    (
        "does setup.exe have the sha256 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03?",
        "echo '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  setup.exe' | sha256sum -c",
    ),
    # Dates and times
    ("what's today's date as YYYY-MM-DD?", "date +%F"),
    ("what's the current unix timestamp?", "date +%s"),
    ("convert the unix time 1700000000 to a date", "date -d @1700000000"),
    ("what's the date 30 days from now?", "date -d '+30 days' +%F"),
    ("when was report.pdf last modified?", "date -r report.pdf"),
    ("copy data.db to a backup named with today's date", 'cp data.db "data-$(date +%Y%m%d).db"'),
    # Git
    ("what's changed in the repo?", "git status"),
    ("show the last 5 commits", "git log --oneline -n 5"),
    ("which branch am I on?", "git branch --show-current"),
    ("create a new branch feature/login and switch to it", "git switch -c feature/login"),
    ("stage everything and commit it with the message 'fix typo'", "git add -A && git commit -m 'fix typo'"),
    ("undo my changes to main.py", "git restore main.py"),
    ("unstage main.py", "git restore --staged main.py"),
    ("who last changed each line of app.py?", "git blame app.py"),
    ("show the staged changes", "git diff --staged"),
    ("change the last commit message to 'Add login page'", "git commit --amend -m 'Add login page'"),
    ("undo the last commit but keep its changes", "git reset --soft HEAD~1"),
    ("stash my uncommitted changes", "git stash"),
    # Scripts, encodings and other everyday tasks
    ("run every .sh script in the scripts folder", 'for f in scripts/*.sh; do sh "$f"; done'),
    ("base64-encode secret.txt", "base64 secret.txt"),
    ("what kind of file is mystery.bin?", "file mystery.bin"),
    ("generate a random password", "head -c 15 /dev/urandom | base64"),
    ("is there a .env file here?", "[ -e .env ] && echo yes || echo no"),
    ("show the first 64 bytes of firmware.bin in hex", "od -A x -t x1z -N 64 firmware.bin"),
)
