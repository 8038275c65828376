"""The paper's tables and figures from run directories or W&B, beside the published values."""
