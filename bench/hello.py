"""The reference for `bench/pages.py`: bare Flask answering "hello", served by the same gunicorn
worker as Amora in the same run. A page's ratio is its req/s over this one's."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
