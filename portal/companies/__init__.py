"""Companies (operator, payor, payee), their members and the roles members hold."""
