"""The web app's pages (gradio); app.py serves them with the API beside them."""
