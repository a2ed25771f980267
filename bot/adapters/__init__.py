"""One module (or package) per outside thing: smtp, imap, maildir, parse, render, db, web."""
