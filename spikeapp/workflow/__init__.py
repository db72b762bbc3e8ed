"""The application core, Qt-free: the Workspace (session, history, trainings, saving, journal)
that the window and the command line share, and the workflow steps it is made of."""
