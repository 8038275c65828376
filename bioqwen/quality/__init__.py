"""Model-based data quality (paper 2.3.1.3, Fig. 3): reward scores, threshold table, embedding maps.

Kept apart from `bioqwen/data/` (where DESIGN.md first placed it as data/quality.py): data/ may
import only the leaf modules and stays CPU-only and model-free, while this package loads
reward models and encoders with torch and transformers. It reads records through data/.
"""
