"""FeedbackLoop helpers: the plumbing behind the notebooks.

One module a concern: `config` (profiles, paths, precision), `models` (finding and loading the base
model), `hiring` (the task world), `rubric` (the gold recruiter), `annotators` (simulated recruiters),
`generation` (batched sampling), `records` (the preference record format), `report` (metrics.json),
`colab` (the install cell's work). The ideas being taught live in the notebooks.
"""
