"""One browser's or API caller's loop: the Session, how sessions are opened, one turn, the drafts."""
