"""Quality review of generated instruction data: the Self-Instruct paper's Table 2 audit, and a model judge."""
