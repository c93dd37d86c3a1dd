"""The store's own modules: each table's row changes, one named function per kind of change.

Stages call these with an open `Store` (`documents.mark_extracted(store, ...)`); only they and
`pipeline/store.py` use the connection. None of them commits: the caller's `store.transaction()`
decides what one batch is. They import the store and `states`, never a stage.
"""
