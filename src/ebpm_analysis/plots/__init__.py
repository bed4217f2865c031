"""Figure functions per case (return matplotlib figures in the house style)."""
