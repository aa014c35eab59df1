"""Party members and the branch roster (花名册), with CSV/XLSX import."""
