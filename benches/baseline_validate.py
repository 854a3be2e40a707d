#!/usr/bin/env python3
"""What a user would write instead of `greenbulk validate`: the csv module and regexes doing the
same checks (chat id, phone normalisation, Excel damage, digit counts, names, body size,
duplicates) and writing the same report. Baseline for benches/bench.py.

usage: baseline_validate.py INPUT.csv|INPUT.xlsx REPORT.csv
"""
import csv
import json
import re
import sys

FIELDS = ["chatId", "phoneContact", "firstName", "middleName", "lastName", "company"]
NAMES = FIELDS[2:]
SCIENTIFIC = re.compile(r"^\+?\d+([.,]\d+)?[eE][+-]?\d+$")
SEPARATORS = re.compile(r"[\s.\-()/]")
PERSONAL = re.compile(r"^(\d+)@c\.us$", re.I)
GROUP = re.compile(r"^\d+(-\d+)?@g\.us$", re.I)
MAX_SAFE = 2**53 - 1
MAX_BODY = 100 * 1024


def loose(header):
    return re.sub(r"[\s_\-.]", "", header).lower()


def phone(text):
    """Returns (digits, error)."""
    text = text.strip()
    if not text:
        return None, "is missing"
    if SCIENTIFIC.match(text):
        return None, "was turned into scientific notation by Excel"
    if re.match(r"^\+?\d{7,}[.,]0{1,2}$", text):
        text = re.split(r"[.,]", text)[0]
    if re.search(r"[^\W\d_]", text):
        return None, "contains letters"
    stripped = SEPARATORS.sub("", text)
    if stripped.startswith("+"):
        stripped = stripped[1:]
    if not stripped.isdigit():
        return None, "contains an unexpected character"
    if stripped.startswith("00"):
        stripped = stripped[2:]
    elif stripped.startswith("0"):
        return None, "starts with 0"
    if len(stripped) < 11:
        return None, f"has {len(stripped)} digits, fewer than 11"
    if len(stripped) > 15:
        return None, f"has {len(stripped)} digits, more than 15"
    if int(stripped) > MAX_SAFE:
        return None, "is larger than 2^53-1"
    return stripped, None


def chat(text):
    text = text.strip()
    if not text:
        return None, "is missing"
    m = PERSONAL.match(text)
    if m:
        return m.group(1) + "@c.us", None
    if GROUP.match(text):
        return text.lower(), None
    if "@" in text:
        return None, "is not a chat id"
    digits, error = phone(text)
    return (digits + "@c.us", None) if digits else (None, error)


def rows_of(path):
    if path.endswith(".xlsx"):
        import openpyxl

        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield ["" if v is None else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)) for v in row]
    else:
        with open(path, newline="", encoding="utf-8-sig") as f:
            yield from csv.reader(f)


def main():
    source, report_path = sys.argv[1], sys.argv[2]
    rows = rows_of(source)
    header = next(rows)
    index = {}
    for i, h in enumerate(header):
        for field in FIELDS:
            if loose(h) == loose(field) and field not in index:
                index[field] = i
    seen = {}
    counts = {"rows": 0, "errors": 0, "warnings": 0}
    with open(report_path, "w", newline="") as out:
        report = csv.writer(out)
        report.writerow(["row", "severity", "field", "value", "problem"])
        for number, row in enumerate(rows, start=2):
            cell = lambda f: row[index[f]].strip() if f in index and index[f] < len(row) else ""
            if not any(c.strip() for c in row):
                continue
            counts["rows"] += 1
            findings = []
            chat_id, error = chat(cell("chatId"))
            if error:
                findings.append(("error", "chatId", cell("chatId"), error))
            digits, error = phone(cell("phoneContact"))
            if error:
                findings.append(("error", "phoneContact", cell("phoneContact"), error))
            names = [cell(f) for f in NAMES]
            if not any(names):
                findings.append(("error", "names", "", "all empty"))
            if not findings:
                contact = {"phoneContact": int(digits)}
                contact.update({f: v for f, v in zip(NAMES, names) if v})
                body = json.dumps({"chatId": chat_id, "contact": contact})
                if len(body) > MAX_BODY:
                    findings.append(("error", "row", "", "over 100 KB"))
                else:
                    key = (chat_id, digits, *names)
                    if key in seen:
                        findings.append(("warning", "row", "", f"duplicate of row {seen[key]}"))
                    else:
                        seen[key] = number
            for severity, field, value, problem in findings:
                counts["errors" if severity == "error" else "warnings"] += 1
                report.writerow([number, severity, field, value, problem])
    print(counts, file=sys.stderr)
    return 3 if counts["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
