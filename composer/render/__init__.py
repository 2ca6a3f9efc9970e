"""Render: Score → .mid .musicxml .wav .png and the listening page; compose straight into a new folder.

`from composer.render import render` writes one file by its extension; `render_batch` a set of variations.
"""

from composer.render.write import (
    RenderConfig,
    RenderedPiece,
    find_soundfont,
    piano_roll_png,
    render,
    render_audio,
    render_batch,
    render_file,
    render_page,
)

__all__ = ["RenderConfig", "RenderedPiece", "find_soundfont", "piano_roll_png", "render", "render_audio",
           "render_batch", "render_file", "render_page"]
