"""What an operator reads: metrics, pushstats' figures, the staff dashboard."""
