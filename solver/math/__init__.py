"""Math: the vocabulary of formula nodes (nodes), the one printer (printing), named quantities (notation), activations."""
