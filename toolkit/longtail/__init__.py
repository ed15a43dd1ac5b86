"""Long-tailed recognition: baselines (CE, Balanced Softmax, LDAM-DRW), ISDA and LCReg."""
