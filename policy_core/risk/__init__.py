"""The members' free risk diagnosis (無料リスク診断): questionnaire data, scoring, documents."""
