"""Web pages frontdesk serves to people outside Slack (the guest reset page)."""
