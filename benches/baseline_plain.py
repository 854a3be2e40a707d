#!/usr/bin/env python3
"""The checker a user writes instead of `greenbulk validate`, in plain Python: the csv module
and a few compiled regexes for the documented rules (chat id forms, Excel's scientific
notation, 11-15 digits, the safe-integer limit, a name present, the 100 KB body estimated from
the field lengths, exact duplicates). No numbering plan, no JSON built per row, no encoding
detection. It writes a report of the same shape. Second baseline for benches/bench.py.

usage: baseline_plain.py INPUT.csv REPORT.csv
"""
import csv
import re
import sys

SCIENTIFIC = re.compile(r"\+?\d+(?:[.,]\d+)?[eE][+-]?\d+")
NOISE = re.compile(r"[\s.\-()/+]")
CHAT = re.compile(r"(\d+)@c\.us|\d+(?:-\d+)?@g\.us", re.I)
MAX_SAFE = 2**53 - 1
MAX_BODY = 100 * 1024
NAMES = ("firstName", "middleName", "lastName", "company")


def phone(text):
    """(digits, None) or (None, problem)."""
    if not text:
        return None, "is missing"
    if SCIENTIFIC.fullmatch(text):
        return None, "was turned into scientific notation by Excel"
    digits = NOISE.sub("", text)
    if not digits.isdigit():
        return None, "contains letters or other characters"
    if digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0"):
        return None, "starts with a national 0"
    if not 11 <= len(digits) <= 15:
        return None, f"has {len(digits)} digits, not 11-15"
    if int(digits) > MAX_SAFE:
        return None, "is larger than 2^53-1"
    return digits, None


def chat(text):
    if "@" in text:
        match = CHAT.fullmatch(text)
        return (text.lower(), None) if match else (None, "is not a chat id")
    digits, problem = phone(text)
    return (digits + "@c.us", None) if digits else (None, problem)


def main():
    source, report_path = sys.argv[1], sys.argv[2]
    with open(source, newline="", encoding="utf-8-sig") as f, \
            open(report_path, "w", newline="") as out:
        rows = csv.reader(f)
        header = [h.strip() for h in next(rows)]
        columns = [header.index(n) if n in header else None for n in ("chatId", "phoneContact", *NAMES)]
        width = len(header)
        report = csv.writer(out)
        report.writerow(["row", "severity", "field", "value", "problem"])
        seen = {}
        errors = 0
        for number, row in enumerate(rows, start=2):
            if not any(row):
                continue
            if len(row) < width:
                row = row + [""] * (width - len(row))
            cells = [row[i].strip() if i is not None else "" for i in columns]
            found = []
            chat_id, problem = chat(cells[0])
            if problem:
                found.append(("error", "chatId", cells[0], problem))
            digits, problem = phone(cells[1])
            if problem:
                found.append(("error", "phoneContact", cells[1], problem))
            names = cells[2:]
            if not any(names):
                found.append(("error", "names", "", "all empty"))
            if not found:
                if sum(map(len, names)) * 6 + 256 > MAX_BODY:
                    found.append(("error", "row", "", "the body would be over 100 KB"))
                else:
                    key = (chat_id, digits, *names)
                    first = seen.setdefault(key, number)
                    if first != number:
                        found.append(("warning", "row", "", f"duplicate of row {first}"))
            for severity, field, value, problem in found:
                errors += severity == "error"
                report.writerow([number, severity, field, value, problem])
    return 3 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
