"""`python -m helpers.tasks [TASK] [--show N]`: a task as the notebooks see it (helpers.tasks.main)."""

from . import main

main()
