"""What the loop runs inside, set up before its first turn and taken down after its last:
the signal handlers, the dashboard child, the fork server, the database thread and its
first connection, the subreaper bit, the selector's sources. A start that cannot reach the
database, or that a stop signal interrupts, takes down what it set up before it says so.
"""

from __future__ import annotations

import selectors
from functools import partial

from loguru import logger

from runner import linux
from supervisor.config import Config
from supervisor.errors import DatabaseError
from supervisor.identity import Identity
from supervisor.loop import dashboard
from supervisor.loop.database import MARGIN, Cancelled, Database, Unavailable
from supervisor.loop.kept_outcomes import Keeper
from supervisor.loop.signals import SignalQueue
from supervisor.runners import handler_modules
from supervisor.runners.pool import Pool
from supervisor.store import statements as store

DEREGISTER_SECONDS = 2.0


class Surroundings:
    def __init__(self, db: Database, signals: SignalQueue, selector: selectors.BaseSelector
                 ) -> None:  # fmt: skip
        self.db = db
        self.signals = signals
        self.selector = selector
        self.web: dashboard.WebProcess | None = None

    def install_signals(self) -> None:
        """First: a stop signal from now on is the loop's to handle, not Python's to die of."""
        self.signals.install()

    def open(self, config: Config, pool: Pool, keeper: Keeper) -> None:
        """Check the handlers, start the dashboard and the fork server, load the outcomes a
        stopped supervisor kept, connect. Cancelled when a stop signal comes first,
        DatabaseError when the database does not answer."""
        handler_modules.check(config)
        self.web = dashboard.start(config)  # [web] listen: the dashboard, a child process
        try:
            pool.warm_up()
        except OSError as e:
            logger.error("cannot start the fork server: {}; the first runner tries again", e)
        keeper.load()  # written first, once connected (Talk)
        self.db.start()
        stop = (self.signals.fileno(), self.signals.stop_asked)
        try:
            db = config.database
            timeout = db.connect_timeout + db.statement_timeout + MARGIN
            self.db.call("connect", None, timeout, stop)
        except (Unavailable, Cancelled) as e:
            self.stop_dashboard()
            pool.forkserver.close()
            self.db.close()
            self.signals.uninstall()
            if isinstance(e, Cancelled):
                raise
            raise DatabaseError(str(e)) from None
        # Orphans of a runner's tree re-parent to us rather than to init: still ours to kill.
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        self.selector.register(self.signals.fileno(), selectors.EVENT_READ, self.signals)
        self.selector.register(self.db.fileno(), selectors.EVENT_READ, self.db)

    def stop_dashboard(self) -> None:
        dashboard.stop(self.web)
        self.web = None

    def close(self, me: Identity) -> None:
        """Deregister (a stopping supervisor that cannot reports and goes: its row goes
        stale), then close the database thread, the signal handlers and the selector."""
        try:
            self.db.call("deregister", partial(store.deregister, me=me), DEREGISTER_SECONDS)
        except Exception as e:
            logger.warning("could not deregister: {}", e)
        self.db.close()
        self.signals.uninstall()
        self.selector.close()
