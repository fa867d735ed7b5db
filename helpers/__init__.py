"""FeedbackLoop helpers: the plumbing behind the notebooks, one module a concern.

config      profiles, paths, precision          models      finding and loading the base model
hiring      the task world and prompts          rubric      the gold recruiter
annotators  simulated recruiters, gold items    generation  batched sampling
records     the preference record format        sample_data the shipped data and cached answers
store       the SQLite annotation store         widget      the annotation widget and sessions
annotation  items and queues of a project       agreement   kappa, alpha, annotator checks, p-chart, votes
report      reports/metrics.json                colab       the install cell's work in Colab
evaluation  held-out answers, sampled once per model and reused

The ideas being taught live in the notebooks.
"""
