"""The closed loop with the grid legal advisers (网格法律顾问): accounts and logins (accounts.py),
the district's grids (grids.py), hand-over tickets, replies checked by the citation verifier,
draft Q&A cards and the demand list (tickets.py, cards.py, demand.py).

The library's part only: bot.admin.Service publishes a card into the index, bot.api and ui/
render. Layer: below bot.admin, above bot.records (.importlinter).
"""
