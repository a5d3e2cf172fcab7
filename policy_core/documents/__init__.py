"""Documents a scheme office sends: the risk assessment report (PDF and HTML), the certificate
of cover and the payment advice (PDF). Built from recorded facts only; see ``pdf.py`` for the
library and the font."""
