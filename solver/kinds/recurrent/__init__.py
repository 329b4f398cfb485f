"""The recurrent kinds' shared reading and losses (common), and the gated cells lstm and gru."""
