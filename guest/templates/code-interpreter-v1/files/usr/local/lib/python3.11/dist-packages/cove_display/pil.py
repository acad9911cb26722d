# PIL's Image.show() shows the image in the notebook, as on E2B: a sandbox
# has no screen and no image viewer, so Pillow would otherwise do nothing.
#
# Pillow's own extension point is used: Image.show() goes through
# PIL.ImageShow.show(), which asks each registered viewer in turn; a viewer
# registered first that calls IPython's display(image) (and so sends the
# image as PNG, through Pillow's _repr_png_) answers every call. PIL is not
# imported for this: ImageShow is imported by Image.show() itself on its
# first call, so the viewer is registered right after that import, by a small
# import hook.
import importlib.abc
import importlib.util
import logging
import sys

log = logging.getLogger("cove_display")

_MODULE = "PIL.ImageShow"
# Modes PNG can hold; others are converted as Pillow's viewers do.
_PNG_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}


class NotebookViewer:
    """A PIL.ImageShow viewer that displays the image in the notebook."""

    def show(self, image, **options):
        from IPython.display import display
        try:
            if image.mode not in _PNG_MODES:
                from PIL import Image
                image = image.convert(Image.getmodebase(image.mode))
            display(image)
        except Exception:
            log.debug("Image.show: display failed", exc_info=True)
            return 0
        return 1


def _register(image_show):
    if not any(isinstance(v, NotebookViewer) for v in image_show._viewers):
        image_show.register(NotebookViewer(), order=-1)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs _register once PIL.ImageShow has been executed, then leaves."""

    def __init__(self):
        self.busy = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _MODULE or self.busy:
            return None
        self.busy = True  # find_spec below asks every finder, this one too
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.busy = False
        if spec is None or spec.loader is None or \
                not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, self)
        return spec

    def remove(self):
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass


class _Loader(importlib.abc.Loader):
    def __init__(self, loader, finder):
        self.loader = loader
        self.finder = finder

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.finder.remove()
        try:
            _register(module)
        except Exception:
            log.debug("PIL viewer not registered", exc_info=True)

    def __getattr__(self, name):  # get_source, get_data, ... for tracebacks
        return getattr(self.loader, name)


def install():
    """Registers the viewer now if PIL.ImageShow is loaded, else on its
    import."""
    module = sys.modules.get(_MODULE)
    if module is not None:
        _register(module)
        return
    if not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport())
