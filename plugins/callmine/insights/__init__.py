"""Call insights: summary, action items, sentiment, phases and the call-analysis dimensions."""
