"""The report run: plan, execute notebooks with papermill, render offline HTML, check and publish."""
