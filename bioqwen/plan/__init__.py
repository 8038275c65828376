"""What a run or a grid will cost before it is launched: tokens, epochs, optimizer steps and
GPU-hours, each with the source it came from (used by `bioqwen plan`)."""
