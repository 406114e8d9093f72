"""Layer 4, the method: VGG19 features, the paper's losses, objectives, the optimizer, multi-scale, warm
starts and temporal targets, metrics. Knows no frame number, path or pass; a new method joins here."""
