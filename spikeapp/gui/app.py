"""Start the Qt application."""

from __future__ import annotations

import logging
import sys

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
    window.resize(1400, 900)
    window.show()
    if not screenshot and not recording and window.offer_untitled_recovery():
        pass
    elif demo:
        window.open_demo(sort=bool(screenshot))
    elif recording:
        window.open_path(recording)  # a recording, or a .spikeapp session
    if screenshot:
        def grab_when_idle() -> None:
            if window.busy():
                QTimer.singleShot(200, grab_when_idle)
                return
            app.processEvents()
            window.grab().save(screenshot)
            window.close()
            app.quit()

        QTimer.singleShot(500, grab_when_idle)
    return app.exec()


def check_window() -> str:
    """Build and show the main window (for ``spikeapp --self-test``)."""
    from PyQt6.QtWidgets import QApplication

    from spikeapp.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(["spikeapp-selftest"])
    main = MainWindow()
    main.resize(1000, 700)
    main.show()
    app.processEvents()
    shown = main.isVisible()
    main.close()
    if not shown:
        raise RuntimeError("the main window did not show")
    return f"Qt platform {app.platformName()}"
