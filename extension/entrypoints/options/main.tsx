import { render } from 'preact';
import '../../src/ui/styles/base.css';
import '../../src/ui/options/options.css';
import { OptionsApp } from '../../src/ui/options/OptionsApp.tsx';

render(<OptionsApp />, document.getElementById('app')!);
