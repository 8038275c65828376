"""The side-by-side chat (Gradio page and terminal mode) for qualitative checks of models.

Uses bioqwen.models and the bioqwen.eval generation helpers; never bioqwen.train.
"""
