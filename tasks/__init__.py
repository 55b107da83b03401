"""jobdeck's worker side: the job engine, the massive actions, the platform's data and mail.

Importing `tasks` opens nothing; `tasks.worker` sets up the broker and declares the actors.
"""
