"""The evidence tables as Markdown text and as rich tables on the terminal."""

from __future__ import annotations


def markdown_table(headers: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    """A GitHub Markdown table; columns after the first `text_columns` are right-aligned."""
    aligns = ["---" if i < text_columns else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def print_table(title: str, headers: list[str], rows: list[list[str]],
                text_columns: int = 1) -> None:
    """Print the table with rich; columns after the first `text_columns` right-aligned."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i < text_columns else "right")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    Console().print(table)
