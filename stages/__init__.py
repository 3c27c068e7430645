"""Video analysis stages: pure cores plus one thin ``run(ctx)`` entry each.

Nothing in this package knows about Redis, RQ or HTTP; the runner in ``queues``
hands every stage a :class:`stages.context.StageContext`.
"""
