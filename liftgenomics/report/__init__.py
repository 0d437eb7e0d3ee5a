"""Pictures and the report of the paper's experiment: motif-recovery and false-negative plots,
the workflow's figure set, and the self-contained HTML report.
"""
