"""Who may use a studio and what a shared one lets requests name: logins, the offered list, reachability."""
