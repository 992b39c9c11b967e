"""The controller and its policies. No Textual import anywhere here (a test checks it)."""
