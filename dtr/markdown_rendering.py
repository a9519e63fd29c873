"""Repository descriptions: Markdown rendered safely. Raw HTML in the text is shown as text,
and links may only use http(s), mailto or relative targets (markdown-it's link check)."""

from markdown_it import MarkdownIt
from markupsafe import Markup

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> Markup:
    return Markup(_markdown.render(text or ""))
