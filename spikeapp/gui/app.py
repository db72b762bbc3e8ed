"""Start the Qt application."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def run_gui(recording: str | None = None, demo: bool = False, screenshot: str | None = None
            ) -> int:
    """Open the main window (on the demo or a recording); with ``screenshot``, save and exit."""
    import pyqtgraph as pg
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from spikeapp.gui.main_window import MainWindow

    pg.setConfigOptions(antialias=False, useOpenGL=False)
    from spikeapp.gui.resources import app_icon

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("spikeapp")
    app.setDesktopFileName("spikeapp")
    app.setWindowIcon(app_icon())
    window = MainWindow()
    install_error_hook(window)
    window.resize(1400, 900)
    window.show()
    if not screenshot and window.files.offer_recovery():
        pass
    elif demo:
        window.files.open_demo(sort=bool(screenshot))
    elif recording:
        window.files.open_path(recording)  # a recording, or a .spikeapp session
    if screenshot:
        def grab_when_idle() -> None:
            if window.busy():
                QTimer.singleShot(200, grab_when_idle)
                return
            app.processEvents()
            window.grab().save(screenshot)
            window.workspace.close(discard=True)   # a picture of the demo: nothing to keep
            window.close()
            app.quit()

        QTimer.singleShot(500, grab_when_idle)
    return app.exec()


def log_file() -> Path:
    from spikeapp.workflow.journal import default_data_dir

    return default_data_dir() / "spikeapp.log"


def install_error_hook(window) -> logging.Handler | None:
    """Every exception no slot caught (PyQt6 would abort on some) goes to the window: a
    one-line message with the details on demand, an entry in the log file, views redrawn.
    Returns the log file's handler."""
    import traceback
    from logging.handlers import RotatingFileHandler

    path = log_file()
    handler = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=2_000_000, backupCount=2)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                               "%(message)s"))
        logging.getLogger("spikeapp").addHandler(handler)
    except OSError as problem:
        log.warning("no log file at %s: %s", path, problem)

    def hook(kind, value, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        details = "".join(traceback.format_exception(kind, value, tb))
        try:
            window.report_exception(value, details)
        except Exception:  # noqa: BLE001 - the hook itself must never raise
            sys.__excepthook__(kind, value, tb)

    sys.excepthook = hook
    return handler


def check_window() -> str:
    """Build and show the main window and look at the frame it renders (for ``spikeapp
    --self-test``)."""
    import numpy as np
    from PyQt6.QtGui import QImage
    from PyQt6.QtWidgets import QApplication

    from spikeapp.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(["spikeapp-selftest"])
    main = MainWindow()
    main.resize(1000, 700)
    main.show()
    app.processEvents()
    # A frame rendered and looked at: the size asked for, and drawn (menus, docks, axes: many
    # colours), not a blank or one-colour surface.
    image = main.grab().toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    main.close()
    if image.isNull() or image.width() < 500 or image.height() < 350:
        raise RuntimeError(f"the main window rendered a {image.width()} x {image.height()} "
                           "frame, not 1000 x 700")
    pixels = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), np.uint8).reshape(
        image.height(), image.width(), 4)[..., :3]
    colours = len(np.unique(pixels[::4, ::4].reshape(-1, 3), axis=0))
    if colours < 8 or float(pixels.std()) < 5:
        raise RuntimeError(f"the main window rendered a blank frame ({colours} colours)")
    return f"Qt platform {app.platformName()}, a {image.width()} x {image.height()} frame drawn"

