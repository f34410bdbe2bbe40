"""The review console's tests: forms, wording, ``nce serve`` and Chromium."""
