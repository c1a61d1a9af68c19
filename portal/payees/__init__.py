"""What a payee company keeps once for every payor: its profile, W-9 facts and bank accounts."""
