"""Tables, plots and statistics over seeds from finished run folders."""
