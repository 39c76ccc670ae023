-- +goose Up
-- Seed universes with real US tickers (SPEC section 5). The sim and polygon feeds cover the
-- union of every universe's symbols, so these lists are also what the app streams out of
-- the box. ON CONFLICT keeps admins' later edits when the migration is re-applied on a
-- database restored from before it.

INSERT INTO universes (name, description) VALUES
    ('DEFAULT_UNIVERSE',    'Large US stocks: the S&P 100'),
    ('TECH_UNIVERSE',       'US technology stocks: software, semiconductors, hardware, internet platforms'),
    ('FINANCIALS_UNIVERSE', 'US financials: banks, brokers, asset managers, insurers, payments, exchanges'),
    ('ETF_UNIVERSE',        'Exchange-traded funds: broad market, sector SPDRs, bonds, commodities, international')
ON CONFLICT (name) DO NOTHING;

-- S&P 100 constituents.
INSERT INTO universe_symbols (universe_name, symbol)
SELECT 'DEFAULT_UNIVERSE', s FROM unnest(ARRAY[
    'AAPL', 'ABBV', 'ABT', 'ACN', 'ADBE', 'AIG', 'AMD', 'AMGN', 'AMT', 'AMZN',
    'AVGO', 'AXP', 'BA', 'BAC', 'BK', 'BKNG', 'BLK', 'BMY', 'BRK.B', 'C',
    'CAT', 'CHTR', 'CL', 'CMCSA', 'COF', 'COP', 'COST', 'CRM', 'CSCO', 'CVS',
    'CVX', 'DE', 'DHR', 'DIS', 'DUK', 'EMR', 'F', 'FDX', 'GD', 'GE',
    'GILD', 'GM', 'GOOG', 'GOOGL', 'GS', 'HD', 'HON', 'IBM', 'INTC', 'INTU',
    'ISRG', 'JNJ', 'JPM', 'KO', 'LIN', 'LLY', 'LMT', 'LOW', 'MA', 'MCD',
    'MDLZ', 'MDT', 'MET', 'META', 'MMM', 'MO', 'MRK', 'MS', 'MSFT', 'NEE',
    'NFLX', 'NKE', 'NOW', 'NVDA', 'ORCL', 'PEP', 'PFE', 'PG', 'PLTR', 'PM',
    'PYPL', 'QCOM', 'RTX', 'SBUX', 'SCHW', 'SO', 'SPG', 'T', 'TGT', 'TMO',
    'TMUS', 'TSLA', 'TXN', 'UBER', 'UNH', 'UNP', 'UPS', 'USB', 'V', 'VZ',
    'WFC', 'WMT', 'XOM'
]::text[]) AS s
ON CONFLICT DO NOTHING;

INSERT INTO universe_symbols (universe_name, symbol)
SELECT 'TECH_UNIVERSE', s FROM unnest(ARRAY[
    'AAPL', 'MSFT', 'NVDA', 'AVGO', 'ORCL', 'CRM', 'ADBE', 'AMD', 'CSCO', 'ACN',
    'IBM', 'INTC', 'INTU', 'NOW', 'QCOM', 'TXN', 'AMAT', 'LRCX', 'KLAC', 'MU',
    'ADI', 'MRVL', 'NXPI', 'MCHP', 'ON', 'SNPS', 'CDNS', 'PANW', 'CRWD', 'FTNT',
    'ANET', 'DELL', 'HPQ', 'HPE', 'WDAY', 'ADSK', 'SNOW', 'DDOG', 'PLTR', 'SHOP',
    'GOOGL', 'META', 'AMZN', 'NFLX', 'UBER', 'TSM', 'ASML', 'SMCI', 'MSI', 'APH'
]::text[]) AS s
ON CONFLICT DO NOTHING;

INSERT INTO universe_symbols (universe_name, symbol)
SELECT 'FINANCIALS_UNIVERSE', s FROM unnest(ARRAY[
    'JPM', 'BAC', 'WFC', 'C', 'GS', 'MS', 'SCHW', 'BLK', 'AXP', 'COF',
    'USB', 'PNC', 'TFC', 'BK', 'STT', 'MTB', 'FITB', 'HBAN', 'RF', 'KEY',
    'CFG', 'SYF', 'MET', 'PRU', 'AIG', 'AFL', 'ALL', 'TRV', 'CB', 'PGR',
    'HIG', 'MMC', 'AON', 'AJG', 'ICE', 'CME', 'NDAQ', 'SPGI', 'MCO', 'MSCI',
    'V', 'MA', 'PYPL', 'FI', 'BRK.B', 'KKR', 'BX', 'APO', 'RJF', 'TROW'
]::text[]) AS s
ON CONFLICT DO NOTHING;

-- Funds only.
INSERT INTO universe_symbols (universe_name, symbol)
SELECT 'ETF_UNIVERSE', s FROM unnest(ARRAY[
    'SPY', 'QQQ', 'IWM', 'DIA', 'VOO', 'IVV', 'VTI', 'RSP', 'MDY',
    'XLK', 'XLF', 'XLE', 'XLV', 'XLY', 'XLP', 'XLI', 'XLB', 'XLU', 'XLRE', 'XLC',
    'SMH', 'SOXX', 'KRE', 'XBI', 'ARKK',
    'TLT', 'IEF', 'SHY', 'HYG', 'LQD', 'AGG', 'BND',
    'GLD', 'SLV', 'GDX', 'USO', 'UNG',
    'EEM', 'EFA', 'VEA', 'VWO', 'FXI', 'EWJ', 'VNQ'
]::text[]) AS s
ON CONFLICT DO NOTHING;

-- +goose Down
-- Deleting a universe cascades to its symbols and to users' selections of it.
DELETE FROM universes
WHERE name IN ('DEFAULT_UNIVERSE', 'TECH_UNIVERSE', 'FINANCIALS_UNIVERSE', 'ETF_UNIVERSE');
