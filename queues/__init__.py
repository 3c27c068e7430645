"""Redis/RQ wiring: settings, key names, the session hash, the stage graph, the runner,
cancellation, the sweeper and the worker entry. Depends on ``stages``, never on ``api``."""
