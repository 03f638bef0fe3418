"""Thai PDF: A4 pages in Sarabun whose Thai survives shaping, line breaking and copying.

fpdf2 shapes the text with HarfBuzz (``set_text_shaping``), so tone marks and vowels above and
below sit where they belong (ReportLab drops them). One more step keeps the *text layer* exact:
HarfBuzz turns SARA AM (ำ) into two glyphs, NIKHAHIT and SARA AA, and a PDF maps each glyph to
its text on its own. fpdf2 gives such a cluster's text to its first glyph and leaves the others
unmapped, so extractors print a stray character (``กำ&นัน``) or a space. Here the whole cluster's
text goes to its last spacing glyph and the other glyphs of the cluster map to the empty string,
so ``กำนัน``, ``น้ำ`` and ``สำเนา`` extract exactly as written.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import TTFFont

#: Sarabun (OFL) from the PyPI package ``fontpkg-sarabun``: an installed directory, not a zip.
FONT_DIR = Path(str(files("fontpkg_sarabun"))) / "files"
FONT = "Sarabun"
RED = (190, 30, 30)
GREY = (90, 90, 90)
_LEADING_VOWELS = frozenset("เแโใไ")
#: Thai combining marks: a line never breaks before one of these.
_MARKS = frozenset(chr(c) for c in (0x0E31, *range(0x0E34, 0x0E3B), *range(0x0E47, 0x0E4F)))


# --- text shaping with an exact text layer ---------------------------------------------------------


class _NoText(tuple[int, ...]):
    """The text of a glyph that carries none (a mark of a multi-glyph cluster).

    fpdf2 writes a ToUnicode entry for every glyph whose text tuple has a length, joining the
    code points it iterates: this one claims a length and iterates nothing, so the entry maps the
    glyph to the empty string instead of leaving it unmapped.
    """

    def __new__(cls) -> _NoText:
        return super().__new__(cls, ())

    def __len__(self) -> int:
        return 1

    def __hash__(self) -> int:
        return hash(())


_NO_TEXT = _NoText()


class _ExactTextFont(TTFFont):
    """A TTF font whose shaped glyphs carry their cluster's text exactly (see the module doc)."""

    __slots__ = ()

    def shape_text(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        return _shape_text(self, text, font_size_pt, text_shaping_params)


def _shape_text(font: TTFFont, text: str, font_size_pt: float, params: dict[str, Any] | None) -> list[dict[str, Any]]:
    """fpdf2's ``TTFFont.shape_text``, giving each cluster's text to its last spacing glyph."""
    if not text:
        return []
    infos, positions = font.perform_harfbuzz_shaping(text, font_size_pt, params)
    starts = sorted({int(info.cluster) for info in infos})
    cluster_text = {start: text[start:end] for start, end in zip(starts, [*starts[1:], len(text)], strict=True)}
    carrier: dict[int, int] = {}
    for index, info in enumerate(infos):
        cluster = int(info.cluster)
        if cluster not in carrier or positions[index].x_advance > 0:
            carrier[cluster] = index
    out: list[dict[str, Any]] = []
    for index, info in enumerate(infos):
        cluster = int(info.cluster)
        unicode: tuple[int, ...] = (
            tuple(ord(c) for c in cluster_text[cluster]) if carrier[cluster] == index else _NO_TEXT
        )
        name = font.ttfont.getGlyphName(info.codepoint)
        width = round(font.scale * font.ttfont["hmtx"].metrics[name][0])
        glyph = font.subset.get_glyph(glyph=info.codepoint, unicode=unicode, glyph_name=name, glyph_width=width)
        if glyph is None:
            continue
        pos = positions[index]
        out.append(
            {
                "mapped_char": font.subset.pick_glyph(glyph),
                "x_advance": pos.x_advance,
                "y_advance": pos.y_advance,
                "x_offset": pos.x_offset,
                "y_offset": pos.y_offset,
                "force_positioning": width != pos.x_advance or pos.x_offset or pos.y_offset or pos.y_advance,
            }
        )
    return out


class ThaiPDF(FPDF):
    """FPDF with Sarabun, HarfBuzz shaping and an exact Thai text layer."""

    def __init__(self) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.set_creator("localgov")
        self.set_lang("th")
        for style, file in (("", "Sarabun-Regular.ttf"), ("B", "Sarabun-Bold.ttf")):
            self.add_font(FONT, style, str(FONT_DIR / file))
        for font in self.fonts.values():
            if type(font) is TTFFont:
                font.__class__ = _ExactTextFont  # same slots: only the shaping method differs
        self.set_text_shaping(use_shaping_engine=True, script="thai", language="tha")
        self.set_auto_page_break(auto=True, margin=20)
        self.set_margins(18, 15, 18)

    def wrap(self, text: str, width: float) -> list[str]:
        """Lines of ``text`` that fit ``width``: at spaces, else between Thai syllable clusters."""
        lines: list[str] = []
        for paragraph in text.splitlines() or [""]:
            line = ""
            for word in paragraph.split(" "):
                candidate = f"{line} {word}" if line else word
                if self.get_string_width(candidate) <= width:
                    line = candidate
                    continue
                if line:
                    lines.append(line)
                line = ""
                for index, char in enumerate(word):
                    if (
                        line
                        and char not in _MARKS
                        and line[-1] not in _LEADING_VOWELS
                        and self.get_string_width(line + word[index:]) > width
                        and self.get_string_width(line + char) > width
                    ):
                        lines.append(line)
                        line = ""
                    line += char
            lines.append(line)
        return lines
