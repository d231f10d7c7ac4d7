"""Files: browser uploads straight to S3 with presigned POST, verified before anyone uses them.

The API chooses every key and never carries the bytes. An upload lands under
``incoming/<user_id>/<file_id>``; the ``ingest`` job (fed by S3 events, or by ``/complete``)
checks it and moves it to ``files/<user_id>/<file_id>``, a key no upload policy ever grants.
"""
