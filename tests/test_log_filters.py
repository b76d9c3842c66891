import logging

from django.conf import settings

from scrm.log_filters import RedactSecrets


def _record(msg, *args):
    return logging.LogRecord("django.server", logging.INFO, __file__, 1, msg, args, None)


def test_tokens_and_secrets_in_arguments_and_messages_are_redacted():
    request_line = "GET /sandbox/cgi-bin/user/get?userid=a&access_token=T0KEN HTTP/1.1"
    record = _record('"%s" %s %s', request_line, 200, 9)
    RedactSecrets().filter(record)
    line = record.getMessage()
    assert "T0KEN" not in line and "access_token=***" in line and "userid=a" in line

    record = _record("GET /cgi-bin/gettoken?corpid=ww1&corpsecret=S3CRET")
    RedactSecrets().filter(record)
    assert record.getMessage() == "GET /cgi-bin/gettoken?corpid=ww1&corpsecret=***"


def test_objects_with_a_url_text_are_redacted_and_other_arguments_kept():
    class Url:
        def __str__(self):
            return "https://qyapi/cgi-bin/x?access_token=T0KEN"

    record = _record("%s %d", Url(), 7)
    RedactSecrets().filter(record)
    assert record.getMessage() == "https://qyapi/cgi-bin/x?access_token=*** 7"


def test_the_console_handler_and_the_development_server_log_use_the_filter():
    logging_config = settings.LOGGING
    assert "redact_secrets" in logging_config["handlers"]["console"]["filters"]
    assert logging_config["loggers"]["django.server"]["handlers"] == ["console"]
